"""Stage 1, the data: the Fashion-MNIST files found and verified, and the device-resident loader."""

"""Training losses, as a dict of namespaced terms ("loss/mse", "loss/logmag", ...) weighted by lambdas.

perceptual.py   the LadLe paper's MSE + perceptual loss and its feature net (phi)
spectral.py     the restoration losses (log-magnitude, spectral convergence, waveform) and `training_losses`
stft.py         the multi-resolution STFT magnitude both read, each with its own floor
"""

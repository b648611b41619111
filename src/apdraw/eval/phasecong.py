"""Phase congruency (Kovesi 1999/2003), the feature map of FSIM.

Phase congruency is high where the Fourier components of an image are in phase:
lines and edges of any contrast. It is computed with a bank of log-Gabor filters
(4 scales x 4 orientations) in the frequency domain, with Kovesi's noise
compensation: the noise energy is estimated per orientation from the median
response at the smallest scale and subtracted before normalising by the total
amplitude. The parameters are the ones the FSIM paper (Zhang et al., IEEE TIP
2011) fixes.
"""

from __future__ import annotations

import math

import numpy as np

N_SCALES = 4
N_ORIENT = 4
MIN_WAVELENGTH = 6.0
MULT = 2.0  # ratio between successive scales' wavelengths
SIGMA_ON_F = 0.55  # log-Gabor bandwidth
D_THETA_ON_SIGMA = 1.2  # orientation spacing / angular sigma
NOISE_K = 2.0  # noise threshold in standard deviations
EPS = 1e-4
# Kovesi: the noise estimate is derived for the PC1 measure and overestimates the
# effect on the PC2 measure used here by about this factor.
PC2_NOISE_RESCALE = 1.7


def _normalised_grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequency coordinates in [-0.5, 0.5], zero frequency at the corner (FFT layout)."""

    def axis(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / max(n - 1, 1)
        return np.arange(-n / 2, n / 2) / n

    x, y = np.meshgrid(axis(cols), axis(rows))
    return np.fft.ifftshift(x), np.fft.ifftshift(y)


def _filters(rows: int, cols: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Radial log-Gabor components (one per scale) and angular spreads (one per orientation)."""
    x, y = _normalised_grid(rows, cols)
    radius = np.sqrt(x**2 + y**2)
    theta = np.arctan2(-y, x)
    # Butterworth low-pass (cutoff 0.45, order 15): keeps the corners of the
    # spectrum out, which would otherwise upset the amplitude normalisation.
    lowpass = 1.0 / (1.0 + (radius / 0.45) ** 30)
    radius[0, 0] = 1.0  # avoid log(0); the DC term is zeroed below
    radial = []
    for s in range(N_SCALES):
        fo = 1.0 / (MIN_WAVELENGTH * MULT**s)
        g = np.exp(-(np.log(radius / fo) ** 2) / (2 * math.log(SIGMA_ON_F) ** 2)) * lowpass
        g[0, 0] = 0.0
        radial.append(g)
    theta_sigma = math.pi / N_ORIENT / D_THETA_ON_SIGMA
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    spread = []
    for o in range(N_ORIENT):
        angle = o * math.pi / N_ORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread.append(np.exp(-(dtheta**2) / (2 * theta_sigma**2)))
    return radial, spread


def phase_congruency(image: np.ndarray) -> np.ndarray:
    """Phase congruency map.

    Args:
        image: (H, W) gray, any float or integer range (the measure is contrast invariant).

    Returns:
        (H, W) float64 in [0, 1]: 0 on flat areas, near 1 on clean lines and step edges.
    """
    im = np.asarray(image, dtype=np.float64)
    rows, cols = im.shape
    spectrum = np.fft.fft2(im)
    radial, spread = _filters(rows, cols)
    energy_all = np.zeros((rows, cols))
    amplitude_all = np.zeros((rows, cols))
    for o in range(N_ORIENT):
        sum_e = np.zeros((rows, cols))
        sum_o = np.zeros((rows, cols))
        sum_an = np.zeros((rows, cols))
        responses = []
        spatial_filters = []
        for s in range(N_SCALES):
            filt = radial[s] * spread[o]
            eo = np.fft.ifft2(spectrum * filt)  # even (real) and odd (imag) responses
            responses.append(eo)
            spatial_filters.append(np.real(np.fft.ifft2(filt)) * math.sqrt(rows * cols))
            sum_an += np.abs(eo)
            sum_e += eo.real
            sum_o += eo.imag
            if s == 0:
                filter_power = float(np.sum(filt**2))
        # Unit vector of the weighted mean phase.
        norm = np.sqrt(sum_e**2 + sum_o**2) + EPS
        mean_e, mean_o = sum_e / norm, sum_o / norm
        energy = np.zeros((rows, cols))
        for eo in responses:
            e, od = eo.real, eo.imag
            # An * (cos(phase deviation) - |sin(phase deviation)|)
            energy += e * mean_e + od * mean_o - np.abs(e * mean_o - od * mean_e)
        # Noise: the smallest scale's squared amplitude is Rayleigh-distributed
        # for Gaussian noise; its median gives the mean robustly.
        median_e2 = float(np.median(np.abs(responses[0]) ** 2))
        noise_power = (-median_e2 / math.log(0.5)) / filter_power if filter_power > 0 else 0.0
        sum_an2 = sum(float(np.sum(f**2)) for f in spatial_filters)
        sum_aiaj = sum(
            float(np.sum(spatial_filters[i] * spatial_filters[j]))
            for i in range(N_SCALES) for j in range(i + 1, N_SCALES)
        )
        noise_energy2 = max(2 * noise_power * sum_an2 + 4 * noise_power * sum_aiaj, 0.0)
        tau = math.sqrt(noise_energy2 / 2)  # Rayleigh parameter
        threshold = (tau * math.sqrt(math.pi / 2) + NOISE_K * math.sqrt((2 - math.pi / 2) * tau**2))
        threshold /= PC2_NOISE_RESCALE
        energy_all += np.maximum(energy - threshold, 0.0)
        amplitude_all += sum_an
    # EPS keeps exactly flat regions (amplitude 0) at 0 instead of 0/0.
    return energy_all / (amplitude_all + EPS)

"""Procedural chest phantoms: radiographs and CT volumes whose opacities grow with severity.

The radiograph is drawn as it is displayed: the patient's right on the image's left, so the heart
shadow sits on the image's right for PA and AP films. Values are relative attenuation in
``[0, 1]`` (air dark, bone bright), ready to be scaled to stored pixel values.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["chest_radiograph", "ct_volume"]


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float,
             rx: float) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _opacities(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, lungs: np.ndarray,
               severity: float, scale: float) -> np.ndarray:
    """Patchy, peripheral, lower-zone predominant blobs: the COVID-19 pneumonia pattern."""
    out = np.zeros(yy.shape, dtype=np.float32)
    n_blobs = round(2 + 30 * severity)
    ys, xs = np.nonzero(lungs)
    if not len(ys) or severity <= 0:
        return out
    weights = (ys - ys.min() + 1.0) ** 1.5 * (np.abs(xs - xx.mean()) + 1.0) ** 2
    weights /= weights.sum()
    picks = rng.choice(len(ys), size=n_blobs, p=weights)
    for idx in picks:
        radius = scale * rng.uniform(0.03, 0.08) * (0.6 + severity)
        blob = np.exp(-(((yy - ys[idx]) ** 2 + (xx - xs[idx]) ** 2) / (2 * radius ** 2)))
        out += (0.12 + 0.25 * severity) * rng.uniform(0.5, 1.0) * blob.astype(np.float32)
    return np.minimum(out, 0.45) * lungs


def chest_radiograph(
    rng: np.random.Generator,
    shape: tuple[int, int] = (512, 512),
    severity: float = 0.3,
    view: str = "PA",
) -> np.ndarray:
    """Draw a frontal chest radiograph phantom.

    Parameters
    ----------
    rng
        Random generator (``numpy.random.default_rng(seed)``); the same seed gives the same image.
    shape
        ``(rows, columns)``.
    severity
        0 (clear lungs) to 1 (extensive bilateral opacities).
    view
        ``"PA"`` or ``"AP"`` (AP films show a wider heart, as on a portable film); ``"LAT"``
        draws a lateral projection.

    Returns
    -------
    numpy.ndarray
        float32 array in ``[0, 1]``, display orientation, heart on the image's right.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.demo.phantom import chest_radiograph
    >>> img = chest_radiograph(np.random.default_rng(0), shape=(128, 128))
    >>> img.shape, img.dtype
    ((128, 128), dtype('float32'))
    """
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    h, w = float(rows), float(cols)
    severity = float(np.clip(severity, 0.0, 1.0))
    img = np.zeros(shape, dtype=np.float32)
    body = _ellipse(yy, xx, 0.58 * h, 0.5 * w, 0.55 * h, 0.46 * w)
    img[body] = 0.55
    if view.upper() in ("LAT", "LL", "RL", "LATERAL"):
        lung = _ellipse(yy, xx, 0.48 * h, 0.5 * w, 0.3 * h, 0.28 * w)
        img[lung] = 0.2
        heart = _ellipse(yy, xx, 0.62 * h, 0.42 * w, 0.15 * h, 0.14 * w)
        img[heart & lung] = 0.5
        spine = (xx > 0.72 * w) & (xx < 0.8 * w) & body
        img[spine] = 0.8
        lungs = lung & ~heart
    else:
        jitter = rng.normal(0, 0.01, size=4)
        right_lung = _ellipse(yy, xx, 0.47 * h, (0.32 + jitter[0]) * w, 0.29 * h, 0.15 * w)
        left_lung = _ellipse(yy, xx, 0.47 * h, (0.68 + jitter[1]) * w, 0.28 * h, 0.14 * w)
        lungs = right_lung | left_lung
        img[lungs] = 0.18
        # Diaphragm domes: lungs end on curved lower borders, the right dome higher.
        dome = 0.72 * h + 0.05 * h * np.cos((xx - 0.5 * w) / (0.5 * w) * np.pi)
        dome += np.where(xx < 0.5 * w, -0.02 * h, 0.0)
        below = yy > dome
        img[below & body] = 0.6
        lungs &= ~below
        # Mediastinum and spine in the middle.
        mediastinum = (np.abs(xx - 0.5 * w) < 0.07 * w) & (yy > 0.15 * h) & body
        img[mediastinum] = 0.68
        # Heart: more to the patient's left = the image's right; wider on AP films.
        heart_rx = (0.17 if view.upper() == "AP" else 0.14) * w
        heart = _ellipse(yy, xx, 0.63 * h, (0.59 + jitter[2]) * w, 0.12 * h, heart_rx)
        img[heart & body] = 0.62
        lungs &= ~heart
        # Ribs: curved bright bands over the lungs.
        for k in range(9):
            y0 = (0.2 + 0.065 * k) * h
            curve = y0 + 0.07 * h * ((xx - 0.5 * w) / (0.5 * w)) ** 2
            band = np.abs(yy - curve) < 0.012 * h
            img[band & lungs] += 0.14
            img[band & body & ~lungs & ~mediastinum] += 0.06
        # Clavicles.
        for side in (-1, 1):
            line = 0.17 * h + side * (xx - 0.5 * w) * -0.12
            clav = (np.abs(yy - line) < 0.012 * h) & (np.abs(xx - 0.5 * w) < 0.35 * w) & \
                   (np.abs(xx - 0.5 * w) > 0.04 * w) & (side * (xx - 0.5 * w) > 0)
            img[clav] = 0.85
    img += _opacities(rng, yy, xx, lungs, severity, scale=min(h, w))
    img = ndimage.gaussian_filter(img, sigma=max(h, w) / 300.0)
    img += rng.normal(0.0, 0.012, size=shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def ct_volume(
    rng: np.random.Generator,
    n_slices: int = 40,
    shape: tuple[int, int] = (128, 128),
    severity: float = 0.3,
) -> np.ndarray:
    """Draw an axial chest CT phantom in Hounsfield units.

    Slices are ordered feet to head (index 0 is the most inferior slice); within a slice the
    patient's right is on the image's left and anterior is up, as a radiologist views it.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.demo.phantom import ct_volume
    >>> vol = ct_volume(np.random.default_rng(0), n_slices=4, shape=(64, 64))
    >>> vol.shape, float(vol.min()) >= -1024
    ((4, 64, 64), True)
    """
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    h, w = float(rows), float(cols)
    severity = float(np.clip(severity, 0.0, 1.0))
    vol = np.full((n_slices, rows, cols), -1000.0, dtype=np.float32)
    for k in range(n_slices):
        z = k / max(n_slices - 1, 1)  # 0 = inferior, 1 = superior
        sl = vol[k]
        body = _ellipse(yy, xx, 0.5 * h, 0.5 * w, 0.36 * h, 0.46 * w)
        sl[body] = 30.0
        lung_ry = 0.26 * h * (0.5 + 0.5 * np.sin(np.pi * (0.15 + 0.8 * z)))
        right = _ellipse(yy, xx, 0.48 * h, 0.3 * w, lung_ry, 0.15 * w)
        left = _ellipse(yy, xx, 0.48 * h, 0.7 * w, lung_ry, 0.14 * w)
        lungs = right | left
        sl[lungs] = -860.0
        if z < 0.6:
            heart = _ellipse(yy, xx, 0.45 * h, 0.57 * w, 0.14 * h * (1 - z), 0.15 * w * (1 - z))
            sl[heart & body] = 40.0
            lungs &= ~heart
        spine = _ellipse(yy, xx, 0.78 * h, 0.5 * w, 0.06 * h, 0.05 * w)
        sl[spine] = 700.0
        sl += _opacities(rng, yy, xx, lungs, severity, scale=min(h, w)) * 900.0
        sl += rng.normal(0.0, 12.0, size=shape).astype(np.float32)
    return np.clip(vol, -1024.0, 3000.0)

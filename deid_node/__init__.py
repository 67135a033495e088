"""deid-node: a DICOM node that de-identifies instances on their way to research."""
__version__ = "0.1.0"

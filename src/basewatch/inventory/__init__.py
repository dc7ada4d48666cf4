"""Detectors that turn image files into packages and OS facts."""

# Metadata lives in pyproject.toml; this shim keeps `python3 setup.py` and old pips working.
from setuptools import setup

setup()

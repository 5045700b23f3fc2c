"""Reference transport fixes for Visdom, one patch series per release (see README.md)."""

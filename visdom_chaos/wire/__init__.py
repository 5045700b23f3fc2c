"""Visdom wire clients: training sources, subscribers and the browser replica."""

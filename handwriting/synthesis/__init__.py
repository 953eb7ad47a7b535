"""Handwriting synthesis (Graves 2013, sections 4-5): mixture density outputs, attention window,
prediction and synthesis networks, sampling."""

"""Handwriting recognition (Graves & Schmidhuber 2009): CTC loss, best-path and prefix beam search
decoding with a character n-gram language model, character and word error rates."""

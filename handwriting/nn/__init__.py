"""The shared recurrent core: LSTM with peepholes, the MDLSTM cell, derivative clipping."""

from handwriting.nn.cells import LSTM, BiLSTM, Carry, LSTMCell, MDLSTMCell, lstm_scan
from handwriting.nn.clip import clip_gradient

__all__ = ["LSTM", "BiLSTM", "Carry", "LSTMCell", "MDLSTMCell", "clip_gradient", "lstm_scan"]

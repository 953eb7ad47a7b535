"""The shared recurrent core: LSTM with peepholes, the MDLSTM cell, derivative clipping."""

from handwriting.nn.cells import LSTM, BiLSTM, Carry, LSTMCell, MDLSTMCell, RecurrentCell, lstm_scan
from handwriting.nn.clip import clip_gradient
from handwriting.nn.mdlstm import MDLSTM2D, mdlstm_reference

__all__ = ["LSTM", "MDLSTM2D", "BiLSTM", "Carry", "LSTMCell", "MDLSTMCell", "RecurrentCell",
           "clip_gradient", "lstm_scan", "mdlstm_reference"]

"""The fill gains of a trained restorer chosen on the validation split (ViSQOL), written into best.pt.

calibrate.py   scoring gain candidates and the gain table
data.py        the val music scored, and the two ways in: after training and `ladle calibrate`
"""

"""The fill gains of a trained restorer chosen on the validation split (ViSQOL), written into best.pt.

calibrate.py   the run-level entry: best.pt's record reused, or scored and written
search.py      scoring gain settings on val excerpts, a race within a deadline
gains.py       the gain table chosen from the scores, and the table in words
record.py      the record best.pt holds, the METHOD that decides re-calibration, the record in one line
data.py        the val music scored, and the two ways in: after training and `ladle calibrate`
"""

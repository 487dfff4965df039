"""Restoring audio with a trained model: windows over whole tracks in bounded memory (windows.py), loading a
checkpoint and tracks in memory (enhance.py), files and folders (files.py, `ladle enhance`).

    from ladle_model.inference.enhance import load_enhancer, enhance_path
"""

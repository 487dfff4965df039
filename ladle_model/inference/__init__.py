"""Restoring audio with a trained model: windows over whole tracks in bounded memory (windows.py) and files
and folders (enhance.py, `ladle enhance`).

    from ladle_model.inference.enhance import load_enhancer, enhance_path
"""

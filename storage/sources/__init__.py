"""Everything that produces lossless input for a corpus build, one module per concern.

    from storage.sources.split import split_disc     # a disc image + CUE sheet → tagged FLAC tracks

- `cue`: parsing CUE sheets; `cue_files`: the files they name, kept inside the sheet's folder;
  `text`: the encodings of sheets and logs, and how sure they are;
- `discid`: TOC and disc IDs (MusicBrainz, freedb, AccurateRip); `accuraterip`: per-track checksums;
- `riplog`: EAC/XLD/whipper rip logs; `verify`: a split checked against them;
- `image`: reading disc images; `layout`: where tracks lie on the disc; `split`: splitting into tracks;
- `paranoia`: ripping a CD with cdparanoia;
- `midi_render`: scores to audio; `demo_corpus`: the small demo library; `library`: a training library.
"""

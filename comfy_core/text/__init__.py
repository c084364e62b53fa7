"""Text side: CLIP BPE tokenizer, prompt weighting, textual-inversion embeddings, CLIP text encoders
(SD1 CLIP-L, SD2 OpenCLIP-H, SDXL CLIP-L + bigG, SDXL refiner bigG) and the CLIP object nodes use.

Entry points: `load_text_encoders(kind, state_dicts, embedding_dirs)` for checkpoint parts,
`load_clip_files(state_dicts, clip_type, embedding_dirs)` for CLIPLoader / DualCLIPLoader files.
"""

# Evidence matrix: CFine without MGF refinement (model.neck.refine=False) on the medium benchmark, from the stand-in.
_base_ = ['./cfine_medium.py']
model = dict(neck=dict(refine=False))

# Evidence matrix: CFine without FCD (model.head.fcd=None) on the medium benchmark, from the stand-in.
_base_ = ['./cfine_medium.py']
model = dict(head=dict(fcd=None))

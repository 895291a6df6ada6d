# Evidence matrix: CFine without CFR (model.head.cfr=None) on the medium benchmark, from the stand-in.
_base_ = ['./cfine_medium.py']
model = dict(head=dict(cfr=None))

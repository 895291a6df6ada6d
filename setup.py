# Copyright (c) tpr_mm contributors. All rights reserved.
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    with open(osp.join(HERE, 'requirements', name)) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'tpr_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='tpr_mm',
    version=read_version(),
    description='Text-to-image person retrieval (text-based person re-id) as an MMEngine plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['tpr_mm', 'tpr_mm.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'bert': read_requirements('bert.txt'),
        # GPU faiss: install the faiss GPU build for your CUDA instead of faiss-cpu;
        # tpr_mm picks up GPU indexes automatically when faiss reports GPUs.
    },
    include_package_data=True,
    zip_safe=False,
)

# The Distiller of every CIFAR-100 pair (configs/distill/cifar100/_pairs/*.py): teacher and
# student are classifiers fed the dataset's preprocessing at 32 x 32; a pair file adds the two
# backbones and the teacher's checkpoint, a method file its losses and the CE weight.
_base_ = ['./cifar100.py']

model = dict(type='Distiller', input_size=(32, 32),
             student=dict(type='KDClassifier', data_preprocessor={{_base_.cifar_preprocessor}}),
             teacher=dict(type='KDClassifier', data_preprocessor={{_base_.cifar_preprocessor}}))

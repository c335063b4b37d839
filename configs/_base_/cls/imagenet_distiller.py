# The Distiller of every ImageNet pair (configs/distill/imagenet/_pairs/*.py): teacher and
# student are classifiers fed the dataset's preprocessing at 224 x 224; a pair file adds the two
# backbones and the teacher's checkpoint, a method file its losses and the CE weight.
_base_ = ['./imagenet.py']

model = dict(type='Distiller', input_size=(224, 224),
             student=dict(type='KDClassifier', data_preprocessor={{_base_.imagenet_preprocessor}}),
             teacher=dict(type='KDClassifier', data_preprocessor={{_base_.imagenet_preprocessor}}))

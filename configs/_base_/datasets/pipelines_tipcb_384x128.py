# TIPCB's pipelines (OrangeYHChen/TIPCB: train.py, Data_process/BERT_token_64.py), used by the
# published LCR²S architecture: 384x128 bicubic resize, zero-pad 10 + random 384x128 crop,
# horizontal flip; captions as BERT WordPiece ids [CLS] ... [SEP] padded to 64. ImageNet
# normalisation is done by the model's data preprocessor. Names carry a tipcb_ prefix so that this
# file can be combined with a dataset base (which brings the CLIP pipelines' names).
tipcb_bert_dir = 'data/pretrained/bert-base-uncased'  # config.json, weights, vocab.txt
tipcb_img_size = (384, 128)
tipcb_context_length = 64
tipcb_train_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=tipcb_img_size[::-1], backend='pillow', interpolation='bicubic'),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='BertTokenizeCaption', vocab=tipcb_bert_dir, context_length=tipcb_context_length),
    dict(type='PackTextReIDInputs'),
]
tipcb_test_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=tipcb_img_size[::-1], backend='pillow', interpolation='bicubic'),
    dict(type='BertTokenizeCaption', vocab=tipcb_bert_dir, context_length=tipcb_context_length),
    dict(type='PackTextReIDInputs'),
]

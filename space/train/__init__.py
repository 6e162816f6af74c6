"""Plain-torch training of SPACE's learned stages (no Ray here: pipelines/ wraps these loops in Ray Train).

data.py      clip sequences from the synthetic corpus or from any arrays (features cached once), batches, the
             identity augmentation
loop.py      train_s2l / train_pose / train_l2l: (train, val, config, steps, lr, seed, device, progress)
             -> (model, metrics)
defaults.py  `python -m space.train.defaults`: the checkpoints shipped in space/checkpoints/
"""

"""makemore part 2 (Karpathy, "Building makemore Part 2: MLP", Bengio et al. 2003), at toy size.

The lecture notebook's code, as cells in order: build_dataset with a 3-character
context, the parameters drawn with torch.randn(..., generator=g), the training
loop with minibatches from torch.randint, F.cross_entropy, manual SGD
(``p.grad = None`` / ``p.data += -lr * p.grad``), split_loss under
@torch.no_grad() and sampling with torch.multinomial. Changes: generated names
(seeded NumPy) instead of names.txt, 40 steps instead of 200000, a hidden layer of
64 instead of 200, and the cells wrapped in functions so a harness can give both
runs the same initial parameters.
"""
import random

import numpy as np
import torch
import torch.nn.functional as F

# generated names instead of names.txt: every letter of a..z appears
_rng = np.random.default_rng(7)
_letters = np.array(list('abcdefghijklmnopqrstuvwxyz'))
words = [''.join(_letters[_rng.integers(0, 26, _rng.integers(3, 9))]) for _ in range(300)]

# build the vocabulary of characters and mappings to/from integers
chars = sorted(list(set(''.join(words))))
stoi = {s:i+1 for i,s in enumerate(chars)}
stoi['.'] = 0
itos = {i:s for s,i in stoi.items()}

# build the dataset
block_size = 3 # context length: how many characters do we take to predict the next one?

def build_dataset(words):
  X, Y = [], []
  for w in words:

    #print(w)
    context = [0] * block_size
    for ch in w + '.':
      ix = stoi[ch]
      X.append(context)
      Y.append(ix)
      #print(''.join(itos[i] for i in context), '--->', itos[ix])
      context = context[1:] + [ix] # crop and append

  X = torch.tensor(X)
  Y = torch.tensor(Y)
  print(X.shape, Y.shape)
  return X, Y

random.seed(42)
random.shuffle(words)
n1 = int(0.8*len(words))
n2 = int(0.9*len(words))

Xtr, Ytr = build_dataset(words[:n1])
Xdev, Ydev = build_dataset(words[n1:n2])
Xte, Yte = build_dataset(words[n2:])

def make_params():
  global C, W1, b1, W2, b2
  g = torch.Generator().manual_seed(2147483647) # for reproducibility
  C = torch.randn((27, 10), generator=g)
  W1 = torch.randn((30, 64), generator=g)
  b1 = torch.randn(64, generator=g)
  W2 = torch.randn((64, 27), generator=g)
  b2 = torch.randn(27, generator=g)
  parameters = [C, W1, b1, W2, b2]
  print(sum(p.nelement() for p in parameters)) # number of parameters in total
  for p in parameters:
    p.requires_grad = True
  return parameters

def train(parameters, steps=40):
  lossi = []
  for i in range(steps):

    # minibatch construct
    ix = torch.randint(0, Xtr.shape[0], (32,))

    # forward pass
    emb = C[Xtr[ix]] # (32, 3, 10)
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1) # (32, 64)
    logits = h @ W2 + b2 # (32, 27)
    loss = F.cross_entropy(logits, Ytr[ix])
    #print(loss.item())

    # backward pass
    for p in parameters:
      p.grad = None
    loss.backward()

    # update
    lr = 0.1 if i < 30 else 0.01
    for p in parameters:
      p.data += -lr * p.grad

    # track stats
    lossi.append(loss.item())
  return lossi

@torch.no_grad() # this decorator disables gradient tracking
def split_loss(split):
  x,y = {
    'train': (Xtr, Ytr),
    'val': (Xdev, Ydev),
    'test': (Xte, Yte),
  }[split]
  emb = C[x] # (N, block_size, n_embd)
  embcat = emb.view(emb.shape[0], -1) # concat into (N, block_size * n_embd)
  h = torch.tanh(embcat @ W1 + b1) # (N, n_hidden)
  logits = h @ W2 + b2 # (N, vocab_size)
  loss = F.cross_entropy(logits, y)
  return loss.item()

def sample(n=5):
  # sample from the model
  g = torch.Generator().manual_seed(2147483647 + 10)
  names = []
  for _ in range(n):

    out = []
    context = [0] * block_size # initialize with all ...
    while True:
      emb = C[torch.tensor([context])] # (1,block_size,d)
      h = torch.tanh(emb.view(1, -1) @ W1 + b1)
      logits = h @ W2 + b2
      probs = F.softmax(logits, dim=1)
      ix = torch.multinomial(probs, num_samples=1, generator=g).item()
      context = context[1:] + [ix]
      out.append(ix)
      if ix == 0:
        break

    names.append(''.join(itos[i] for i in out))
  return names

if __name__ == "__main__":
  parameters = make_params()
  print(train(parameters)[-1], split_loss('train'), split_loss('val'))
  print(sample())

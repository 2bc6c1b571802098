"""pytorch/examples vae/main.py (github.com/pytorch/examples/tree/main/vae), at toy size.

The VAE class (fc1, fc21, fc22, fc3, fc4 with the original 784-400-20 sizes),
loss_function (F.binary_cross_entropy with reduction='sum' plus the KL term),
the train/test loops with a DataLoader, Adam(lr=1e-3) and torch.randn sampling
are the example's. Changes: generated 28x28 "images" (seeded NumPy, values in
[0, 1]) in a TensorDataset instead of MNIST, shuffle=False for the training
loader (the harness compares batch by batch), a few batches instead of epochs,
no argparse, logging or image files.
"""
from __future__ import print_function

import numpy as np
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

batch_size = 16
log_interval = 4
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# generated stand-in for MNIST: smooth blobs in [0, 1], with dummy labels
_rng = np.random.default_rng(5)
_yy, _xx = np.mgrid[0:28, 0:28]
_c = _rng.uniform(6, 22, size=(96, 2, 1, 1))
_images = np.exp(-((_yy - _c[:, 0]) ** 2 + (_xx - _c[:, 1]) ** 2) / 30.0).astype(np.float32)[:, None]
_labels = _rng.integers(0, 10, 96)

kwargs = {}
train_loader = DataLoader(
    TensorDataset(torch.tensor(_images[:64]), torch.tensor(_labels[:64])),
    batch_size=batch_size, shuffle=False, **kwargs)
test_loader = DataLoader(
    TensorDataset(torch.tensor(_images[64:]), torch.tensor(_labels[64:])),
    batch_size=batch_size, shuffle=False, **kwargs)


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # https://arxiv.org/abs/1312.6114
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    return BCE + KLD


def make_model():
    global model, optimizer
    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    return model


def train(epoch):
    """The example's train(epoch); returns the loss of every batch (per image)."""
    model.train()
    train_loss = 0
    history = []
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        history.append(loss.item() / len(data))
        if batch_idx % log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader),
                loss.item() / len(data)))

    print('====> Epoch: {} Average loss: {:.4f}'.format(
          epoch, train_loss / len(train_loader.dataset)))
    return history


def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()

    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss))
    return test_loss


def sample():
    with torch.no_grad():
        sample = torch.randn(8, 20).to(device)
        sample = model.decode(sample).cpu()
        return sample.view(8, 1, 28, 28)


if __name__ == "__main__":
    make_model()
    for epoch in range(1, 4):
        train(epoch)
        test(epoch)
    print(sample().shape)

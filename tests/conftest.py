import torch

# CI has 2 cores; one torch thread per test process keeps runs predictable and avoids oversubscription.
torch.set_num_threads(1)

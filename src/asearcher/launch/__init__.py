"""Launchers of distributed runs: ``local`` (subprocess servers + torchrun), ``ray`` (placement groups and
actors that own the processes), ``slurm`` (an sbatch script). The data plane is the same everywhere: HTTP
between the rollout client and the servers, torch.distributed between trainer ranks and for weight sync."""

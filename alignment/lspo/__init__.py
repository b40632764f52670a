"""LSPO: Latent Space Policy Optimization for the Werewolf game (Xu, Gu, Yu, Wu, Wang, ICML 2025,
arXiv 2502.04686) -- latent strategy space from statement embeddings + per-role k-means, CFR on
the abstracted game, back to language by DPO. See ``loop.py`` for the iteration."""

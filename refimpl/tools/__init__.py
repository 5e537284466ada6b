"""The machinery around the model files: registry, weights, counting, verification, data, training, CLI.

Nothing in here is needed to use a copied model file; the model files import
nothing from here.
"""

"""The off-chain parts of the financial flow: identity documents, the KYC issuer service, the wallet side.

Everything here reaches a node only through the SDK (node/client); the node never imports finance.
"""

"""What a module or a product imports: the module contract, the primitive API, the module and product registers."""

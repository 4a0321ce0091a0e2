"""The national platform's interface (国家医疗保障信息平台接口, nhsa.md; docs/gateway.md): the
envelope at both URL styles, provincial authentication, sign-in, the message log by msgid,
one module per transaction family and the boundary conversions."""

"""The reader library HIS software links against (``libsscardreader.so``; docs/reader-library.md).

``abi`` the C interface (functions, buffer sizes, return codes), ``library`` what each
call does, ``settings`` Init's JSON, ``cardinfo`` pCardInfo, ``pinpad`` the virtual PIN
pad, ``errors`` codes and texts, ``capi`` the cffi entry points, ``build`` the build,
``loader`` ctypes loading.
"""

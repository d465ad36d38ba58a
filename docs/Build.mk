# Man pages installed by `make install` (section from the suffix).
man-y += $(patsubst $(srctree)/%,%,$(wildcard $(srctree)/docs/man/*.[1-8]))

# SPDX-License-Identifier: GPL-2.0
#
# Sphinx configuration for the project's documentation (make docs).
#
# The uAPI reference is extracted from uapi/linux/vfio_user.h by the
# kernel's kernel-doc script and its Sphinx extension, taken from the
# unpacked linux-source-6.1 tree named by $LINUX_SRC (the Makefile sets
# it). Nothing is fetched from the network.

import os
import sys

linux_src = os.environ.get('LINUX_SRC')
if not linux_src:
    raise RuntimeError('LINUX_SRC is not set: build with "make docs"')

sys.path.insert(0, os.path.join(linux_src, 'Documentation', 'sphinx'))

# A kernel-doc warning makes kernel-doc fail, which the extension reports as
# a Sphinx warning, which -W turns into a failed build.
os.environ['KDOC_WERROR'] = '1'

project = 'vfio-user in the kernel'
copyright = 'The vfio-user in the kernel authors'

extensions = ['kerneldoc']

kerneldoc_bin = os.path.join(linux_src, 'scripts', 'kernel-doc')
kerneldoc_srctree = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                 '..'))

master_doc = 'index'
source_suffix = '.rst'
exclude_patterns = []
primary_domain = 'c'
highlight_language = 'none'

html_theme = 'alabaster'
html_static_path = []
html_copy_source = False
html_show_sourcelink = False

# Kernel VFIO types the header refers to; they are documented upstream in
# include/uapi/linux/vfio.h, not here.
nitpick_ignore = [
    ('c:type', 'vfio_irq_set'),
]

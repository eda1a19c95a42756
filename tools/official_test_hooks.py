"""Hooks into the official YOLOv7 test.py for the tools that run it (make_eval_reference.py,
peer_accuracy.py): importing the right `test` module, and capturing the per-class figures that
test() only prints."""
import sys
from pathlib import Path


def official_test_module():
    """The package's python_scripts/test.py. Its folder goes first on sys.path, since `import
    test` otherwise finds Python's own `test` package (../shared/weights/README.md)."""
    import models
    scripts = Path(models.__file__).resolve().parent.parent / 'python_scripts'
    sys.path.insert(0, str(scripts))
    sys.modules.pop('test', None)
    import test as official_test
    assert Path(official_test.__file__).resolve().parent == scripts, official_test.__file__
    return official_test


class PerClassCapture:
    """Wraps the module's `ap_per_class` so each call's results (and the labels' classes) are
    kept; `per_class(names)` turns the last call into the engine's eval-JSON per-class rows."""

    def __init__(self, official_test):
        self.calls = []
        official = official_test.ap_per_class

        def ap_per_class_capture(tp, conf, pred_cls, target_cls, *a, **k):
            import numpy as np
            res = official(tp, conf, pred_cls, target_cls, *a, **k)
            self.calls.append((res, np.asarray(target_cls)))
            return res
        official_test.ap_per_class = ap_per_class_capture

    def per_class(self, names):
        """([{class, class_id, labels, AP50, AP50_95, precision, recall}], labels per class)."""
        import numpy as np
        (p, r, apm, _, ap_class), target_cls = self.calls[-1]
        nt = np.bincount(target_cls.astype(np.int64), minlength=len(names))
        rows = [{'class': names[c], 'class_id': int(c), 'labels': int(nt[c]), 'AP50': float(apm[i, 0]),
                 'AP50_95': float(apm[i].mean()), 'precision': float(p[i]), 'recall': float(r[i])}
                for i, c in enumerate(ap_class)]
        return rows, nt

"""scikit-learn's estimator contract, without importing scikit-learn.

scikit-learn finds its way around an estimator through a few conventions (its "developer API"):

* ``__init__`` stores each argument under its own name and does nothing else, so that
  ``get_params()`` can read them back from the constructor's signature and ``clone`` can rebuild an
  unfitted copy;
* ``set_params(**params)`` sets them (``step__name`` reaches into a nested estimator);
* ``__sklearn_tags__()`` (scikit-learn >= 1.6) says what kind of estimator it is (classifier,
  transformer, outlier detector) and what input it takes; ``Pipeline``, ``GridSearchCV``,
  ``cross_val_score`` and ``is_classifier`` ask for it.

:class:`Estimator` gives those to npae's estimators.  scikit-learn is imported only *inside*
``__sklearn_tags__``, which only scikit-learn calls, so ``import npae`` never imports it.
"""
import inspect


class NotFittedError(ValueError, AttributeError):
    """An estimator used before ``fit``.  A ValueError and an AttributeError, as scikit-learn's own
    ``sklearn.exceptions.NotFittedError`` is, so code written for either catches it."""


class Estimator:
    """Mixin: ``get_params``/``set_params`` from the constructor's signature, and scikit-learn's tags.

    A subclass sets ``_estimator_type`` to "classifier", "transformer", "outlier_detector" (or leaves
    None) and may override ``_more_tags(tags)`` to adjust the tags scikit-learn builds.
    """

    _estimator_type = None

    @classmethod
    def _parameter_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(name for name, parameter in signature.parameters.items()
                      if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD))

    def get_params(self, deep=True):
        """The constructor's arguments by name, as stored by ``__init__`` (scikit-learn's contract).
        With ``deep=True``, an argument that is itself an estimator adds its own as ``name__param``."""
        params = {}
        for name in self._parameter_names():
            value = getattr(self, name)
            params[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", item) for key, item in value.get_params().items())
        return params

    def set_params(self, **params):
        """Set constructor arguments by name (``name__param`` for a nested estimator); returns self.
        Takes effect at the next ``fit``."""
        valid = self._parameter_names()
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"{key!r} is not a parameter of {type(self).__name__}; expected one of {valid}")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self):
        arguments = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._parameter_names())
        return f"{type(self).__name__}({arguments})"

    def __sklearn_tags__(self):
        """scikit-learn's tags (>= 1.6).  Imports scikit-learn here, and only here: only it calls this."""
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags, TransformerTags  # noqa: F401

        kind = self._estimator_type
        tags = Tags(estimator_type=kind, target_tags=TargetTags(required=kind == "classifier"))
        if kind == "classifier":
            tags.classifier_tags = ClassifierTags()
        if kind == "transformer":
            tags.transformer_tags = TransformerTags()
        return self._more_tags(tags)

    def _more_tags(self, tags):
        return tags

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

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """An estimator used before ``fit``.  A ValueError and an AttributeError, as scikit-learn's own
    ``sklearn.exceptions.NotFittedError`` is, so code written for either catches it."""


def check_is_fitted(estimator, attribute):
    """NotFittedError unless ``estimator`` has ``attribute`` (set by its ``fit``); scikit-learn's wording."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
                             "appropriate arguments before using this estimator.")


def dense_numeric_input(x, argument="x"):
    """x as a NumPy array of real numbers (values not checked yet): the input of an estimator's fit/predict.

    Refused with the words scikit-learn's ``check_estimator`` looks for: a sparse matrix (TypeError,
    "sparse input is not supported"), complex numbers ("Complex data not supported"), a 1-D array
    ("Reshape your data"), no columns ("0 feature(s) ... while a minimum of 1 is required.").  An
    object array of numbers (a DataFrame's ``.values`` of mixed columns) is converted to float64; one
    holding anything else raises NumPy's own TypeError/ValueError, prefixed with the argument's name.
    """
    if hasattr(x, "tocsr") or type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{argument} is a sparse matrix, and sparse input is not supported: pass {argument}.toarray()")
    array = np.asarray(x)
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {argument} has dtype {array.dtype}; expected real numbers")
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{argument} holds a value that is not a number: {error}") from None
    if array.ndim == 1:
        raise ValueError(f"{argument} must be a 2-D array (observations x features), got shape {array.shape}: "
                         f"Reshape your data with {argument}.reshape(-1, 1) for a single feature or "
                         f"{argument}.reshape(1, -1) for a single observation")
    if array.ndim == 2 and array.shape[1] == 0:
        raise ValueError(f"{argument} has 0 feature(s) (shape={array.shape}) while a minimum of 1 is required.")
    return array


def check_n_features(estimator, x):
    """ValueError unless x (2-D) has the ``n_features_in_`` columns the estimator was fitted on.

    The message is scikit-learn's, word for word ("X has 3 features, but PCA is expecting 4 features
    as input"), because ``check_estimator`` looks for it.
    """
    if x.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {x.shape[1]} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input")


class Estimator:
    """Mixin: ``get_params``/``set_params`` from the constructor's signature, and scikit-learn's tags.

    A subclass sets ``_estimator_type`` to "classifier", "transformer", "outlier_detector" (or leaves
    None) and may override ``_sklearn_tags(tags)`` to adjust the tags scikit-learn builds (not
    ``_more_tags``: scikit-learn >= 1.6 takes that name for its old tag system and its
    ``check_estimator_tags_renamed`` fails any class that defines it).
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
        return self._sklearn_tags(tags)

    def _sklearn_tags(self, tags):
        return tags

"""PyTorch's numbers for the paper's reference FFA, the reference of experiment 1 and of the training curves.

The paper prints no reconstruction error for its FFAs, so experiment 1 compares npae with PyTorch
trained with exactly npae's set-up, and this module is the one place where those numbers live
(``MEASURED``) together with the code that measured them (``python -m npae.experiments.pytorch_reference``
prints a new ``MEASURED``).  The set-up, ``SETUP``:

    Linear(784, q), ReLU, Linear(q, 784), sigmoid; Glorot-uniform weights and zero biases (Keras' and
    npae's initialisation; PyTorch's own default, uniform +-1/sqrt(fan_in), ends higher after 30 epochs:
    0.0782 BCE at q = 64 instead of 0.0726); Adam with lr 1e-3, betas (0.9, 0.999), eps 1e-7; batch 256,
    shuffled every epoch; the full 60,000 MNIST training images; seed 0; one run per model.

After every epoch the 10,000 test images are reconstructed and measured with npae's own functions
(``reconstruction.bce_per_pixel`` and ``_common.mse``), so both columns of the report are one measure.
The numbers are *curves*: ``MEASURED[(q, loss)]["bce"][e - 1]`` is the test BCE after e epochs, so a quick
run (fewer epochs) is compared with PyTorch after as many epochs.  They hold for the full data only.

torch is optional: only :func:`measure` and :func:`main` import it.
"""
import time

SETUP = ("PyTorch 2.13 trained with npae's set-up (Glorot-uniform initialisation, Adam with lr 1e-3 and eps 1e-7, "
         "batch 256, the 60,000 MNIST training images, seed 0, one run)")
EPOCHS = 30
N_TRAIN = 60_000        # the training set the numbers hold for
MODELS = ((8, "bce"), (16, "bce"), (32, "bce"), (64, "bce"), (16, "mse"))

# Measured with PyTorch 2.13.0+cpu (2 threads, a busy machine) by ``python -m npae.experiments.pytorch_reference``:
# test BCE and test MSE per pixel after epochs 1..30; the comments give each model's training time.
MEASURED = {
    (8, "bce"): {  # 20 s
        "bce": [
            0.25764, 0.209998, 0.190204, 0.182508, 0.179469, 0.177387, 0.175673, 0.174248,
            0.172869, 0.171677, 0.17063, 0.169719, 0.168895, 0.168133, 0.167521, 0.166972,
            0.166444, 0.166107, 0.165813, 0.165543, 0.165289, 0.165073, 0.164958, 0.164666,
            0.164556, 0.164441, 0.164295, 0.164221, 0.164222, 0.164064,
        ],
        "mse": [
            0.0638477, 0.0477116, 0.0415589, 0.0391654, 0.038309, 0.0376574, 0.037118, 0.0367092,
            0.0362551, 0.0358955, 0.0355682, 0.0352653, 0.0350441, 0.0348012, 0.0346168, 0.0344672,
            0.0343014, 0.034231, 0.0341586, 0.034091, 0.0340109, 0.033946, 0.0339411, 0.0338387,
            0.0338204, 0.0337788, 0.0337281, 0.0337065, 0.0337096, 0.0336661,
        ],
    },
    (16, "bce"): {  # 30 s
        "bce": [
            0.223561, 0.181718, 0.161962, 0.15015, 0.143641, 0.140048, 0.137631, 0.135781,
            0.134134, 0.132624, 0.13152, 0.130479, 0.129695, 0.129047, 0.128672, 0.12825,
            0.127939, 0.127776, 0.127577, 0.127451, 0.127301, 0.127188, 0.127247, 0.127056,
            0.127054, 0.126935, 0.12693, 0.126824, 0.126829, 0.126757,
        ],
        "mse": [
            0.0522006, 0.0383379, 0.0319579, 0.0281285, 0.0261321, 0.0249875, 0.0242498, 0.0236919,
            0.0231799, 0.02273, 0.0224249, 0.0221282, 0.0218914, 0.0216939, 0.021602, 0.0215133,
            0.0214148, 0.0213808, 0.0213234, 0.0212761, 0.0212259, 0.021223, 0.021216, 0.0211693,
            0.0211447, 0.0211245, 0.0211412, 0.0210842, 0.0211153, 0.0210451,
        ],
    },
    (32, "bce"): {  # 19 s
        "bce": [
            0.192069, 0.154864, 0.134632, 0.121802, 0.113437, 0.107311, 0.103264, 0.099691,
            0.097324, 0.095698, 0.094608, 0.09398, 0.09349, 0.093202, 0.093004, 0.092833,
            0.092636, 0.092554, 0.092448, 0.092366, 0.092339, 0.092269, 0.09217, 0.092289,
            0.092088, 0.092053, 0.092102, 0.091976, 0.09202, 0.091965,
        ],
        "mse": [
            0.0416668, 0.0295297, 0.0228747, 0.0187543, 0.0161858, 0.014261, 0.013049, 0.0119488,
            0.0112416, 0.0107735, 0.0104785, 0.0103091, 0.0101673, 0.0101143, 0.0100386, 0.010017,
            0.0099551, 0.0099212, 0.0099107, 0.00987, 0.0098738, 0.0098558, 0.0098234, 0.0098243,
            0.0097877, 0.0097895, 0.0098046, 0.0097544, 0.0097876, 0.0097722,
        ],
    },
    (64, "bce"): {  # 32 s
        "bce": [
            0.161533, 0.126101, 0.108093, 0.097058, 0.089846, 0.084991, 0.081569, 0.07919,
            0.077552, 0.076314, 0.075583, 0.074956, 0.074472, 0.074107, 0.073865, 0.07364,
            0.073484, 0.073341, 0.073204, 0.073071, 0.073016, 0.072904, 0.072921, 0.072847,
            0.072766, 0.072729, 0.072726, 0.072637, 0.072598, 0.072594,
        ],
        "mse": [
            0.0315039, 0.0200061, 0.0142938, 0.0109159, 0.0087321, 0.0073, 0.0062983, 0.0056316,
            0.0051668, 0.0048072, 0.0046161, 0.0044194, 0.0042803, 0.00417, 0.0041125, 0.0040509,
            0.0039897, 0.0039499, 0.0039167, 0.0038719, 0.0038653, 0.0038248, 0.0038199, 0.0037971,
            0.0037969, 0.0037639, 0.0037849, 0.0037422, 0.0037293, 0.0037259,
        ],
    },
    (16, "mse"): {  # 209 s
        "bce": [
            0.235292, 0.192558, 0.172228, 0.160217, 0.153072, 0.148788, 0.145938, 0.143796,
            0.141912, 0.140314, 0.138916, 0.137765, 0.136888, 0.136114, 0.135637, 0.135028,
            0.134664, 0.134391, 0.134107, 0.133922, 0.133811, 0.133558, 0.13356, 0.133393,
            0.133518, 0.1333, 0.133212, 0.133175, 0.133087, 0.133096,
        ],
        "mse": [
            0.0523822, 0.0387555, 0.0324199, 0.0286882, 0.0265905, 0.0253629, 0.0245689, 0.023973,
            0.0234125, 0.0229407, 0.0225733, 0.022253, 0.0220064, 0.0217958, 0.0216678, 0.0215379,
            0.0214047, 0.0213418, 0.0212667, 0.021208, 0.0211581, 0.0211098, 0.0210998, 0.0210509,
            0.0210608, 0.020986, 0.0209892, 0.0209451, 0.0209498, 0.0208972,
        ],
    },
}


def reference(latent_size, loss, epochs):
    """``{"bce": ..., "mse": ...}`` of PyTorch's model (latent_size, loss) after ``epochs`` epochs, or None
    when it was not measured (another q or loss, or more epochs than ``EPOCHS``)."""
    curves = MEASURED.get((latent_size, loss))
    if curves is None or not 1 <= epochs <= len(curves["bce"]):
        return None
    return {"bce": curves["bce"][epochs - 1], "mse": curves["mse"][epochs - 1]}


def measure(x_train, x_test, latent_size, loss, *, epochs=EPOCHS, seed=0, batch_size=256):
    """Train PyTorch's twin of the paper's FFA; returns ``{"bce": [...], "mse": [...]}``, one value per epoch."""
    import torch

    from ._common import mse
    from .reconstruction import bce_per_pixel

    torch.manual_seed(seed)
    features = x_train.shape[1]
    model = torch.nn.Sequential(torch.nn.Linear(features, latent_size), torch.nn.ReLU(),
                                torch.nn.Linear(latent_size, features))
    for layer in (model[0], model[2]):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    # From the logits, as npae computes it: the same loss, without log(0).
    bce_from_logits, mse_loss = torch.nn.BCEWithLogitsLoss(), torch.nn.MSELoss()
    data, test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    generator = torch.Generator().manual_seed(seed)
    curves = {"bce": [], "mse": []}
    for _ in range(epochs):
        order = torch.randperm(data.shape[0], generator=generator)
        for start in range(0, data.shape[0], batch_size):
            batch = data[order[start:start + batch_size]]
            optimizer.zero_grad(set_to_none=True)
            logits = model(batch)
            value = bce_from_logits(logits, batch) if loss == "bce" else mse_loss(torch.sigmoid(logits), batch)
            value.backward()
            optimizer.step()
        with torch.no_grad():
            reconstructions = torch.sigmoid(model(test)).numpy()
        curves["bce"].append(round(bce_per_pixel(x_test, reconstructions), 6))
        curves["mse"].append(round(mse(reconstructions, x_test), 7))
    return curves


def format_measured(measured, seconds):
    """The source text of ``MEASURED`` for ``measured`` {(q, loss): curves} and training ``seconds`` per model."""
    lines = ["MEASURED = {"]
    for (latent_size, loss), curves in measured.items():
        lines.append(f'    ({latent_size}, "{loss}"): {{  # {seconds[latent_size, loss]:.0f} s')
        for key in ("bce", "mse"):
            lines.append(f'        "{key}": [')
            values = curves[key]
            lines += ["            " + ", ".join(map(repr, values[start:start + 8])) + ","
                      for start in range(0, len(values), 8)]
            lines.append("        ],")
        lines.append("    },")
    return "\n".join(lines + ["}"])


def main():
    import torch

    from ..datasets import load_mnist

    (x_train, _), (x_test, _) = load_mnist()
    measured, seconds = {}, {}
    for key in MODELS:
        started = time.perf_counter()
        measured[key] = measure(x_train, x_test, *key)
        seconds[key] = time.perf_counter() - started
    print(f"# Measured with PyTorch {torch.__version__} ({torch.get_num_threads()} threads); {SETUP}.")
    print(format_measured(measured, seconds))


if __name__ == "__main__":
    main()

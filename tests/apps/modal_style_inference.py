"""An inference class as Modal's examples write it: @enter loads a model once, methods use it."""

import chute as modal

app = modal.App("modal-style-inference")
image = modal.Image.debian_slim().uv_pip_install("torch", "transformers")

with image.imports():
    import not_installed_anywhere  # noqa: F401  # only in the remote image


@app.cls(image=image, scaledown_window=30, enable_memory_snapshot=True)  # gpu= would wait for a GPU worker
class Model:
    name: str = modal.parameter()
    scale: int = modal.parameter(default=2)

    @modal.enter()
    def load(self):
        self.weights = {"small": 1, "large": 10}[self.name] * self.scale
        self.loaded = getattr(self, "loaded", 0) + 1

    @modal.method()
    def predict(self, x: int) -> int:
        return x * self.weights

    @modal.method()
    def stream(self, n: int):
        for i in range(n):
            yield i * self.weights

    @modal.exit()
    def close(self):
        pass


@app.local_entrypoint()
def main(x: int = 5):
    small = Model(name="small")
    print("predict", small.predict.remote(x), Model(name="large", scale=1).predict.remote(x))
    print("stream", list(small.stream.remote_gen(3)))
    print("map", list(small.predict.map([1, 2])), small.predict.spawn(10).get())
    print("local", small.predict.local(x))


@app.cls()
class Describer:
    label: str = modal.parameter(default="x")

    @modal.method()
    def describe(self, suffix: str = "") -> str:
        return f"{self.label}{suffix}"

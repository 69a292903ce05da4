# The pipeline image: TFX's own image plus this project, so every pipeline step, Vertex Training
# job and Dataflow worker can import `pipeline` and `models`. Build and push it with Cloud Build
# (cloudbuild.yaml; README.md, "Vertex AI and Kubeflow"), then name it as `image:` in the cloud config.
# The tag must equal the TFX that compiles the pipeline (requirements.lock): the compiled spec
# runs TFX's own entry points from this image.
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# tensorflow_transform chooses Keras 2 at import time when this is unset, and TFX's executors
# import it before the project's code; the project needs Keras 3 (BUILD_NOTES.md, "Keras 2 or 3").
ENV TF_USE_LEGACY_KERAS=0

# cloud/cloud_config.py (IMAGE_PROJECT_ROOT) rewrites the curated schema's path to this folder.
WORKDIR /pipeline
COPY setup.py local_runner.py kubeflow_v2_runner.py ./
COPY pipeline/ pipeline/
COPY configs/ configs/
COPY models/ models/
COPY multiworker/ multiworker/
COPY data/ data/
COPY cloud/ cloud/
COPY local/ local/
COPY inspection/ inspection/
COPY serving/ serving/
COPY ui/ ui/
COPY benchmarks/ benchmarks/
COPY cli/ cli/
COPY system/ system/
COPY schema/ schema/

# --no-deps: TFX, TensorFlow and Beam stay the versions the base image was built and tested with.
# compileall: with PYTHONDONTWRITEBYTECODE set, every step would otherwise compile this code again.
RUN python -m pip install --no-cache-dir --no-deps -e . && python -m compileall -q /pipeline

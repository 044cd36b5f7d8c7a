"""Tag names MLflow gives meaning to: part of the protocol every backend and the gateway speak."""

PROMPT_TAG = "mlflow.prompt.is_prompt"  # "true" on a prompt (a registered model) and its versions
RUN_NAME_TAG = "mlflow.runName"

"""roboact.models: RoboAct-CLIP (paper Sec. III) on frozen encoders; configs, losses, metrics, encoders.

Import the pieces from their modules; the common names are re-exported here.
"""

from .configuration_roboact import RoboActConfig, list_model_configs, load_model_config
from .modeling_roboact import RoboActCLIP, recomb_caption

__all__ = ["RoboActCLIP", "RoboActConfig", "list_model_configs", "load_model_config", "recomb_caption"]

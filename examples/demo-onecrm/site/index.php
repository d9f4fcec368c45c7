<?php
// 1CRM front controller (demo install tree: the files are shaped like 1CRM's, the code is a stand-in)
require 'include/entryPoint.php';

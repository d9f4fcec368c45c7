<?php
class Contact { public $table_name = 'contacts'; }
